"""The RunComfy API: client, HTTP session, input checks, the shared rate limiter."""
