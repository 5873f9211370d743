"""What makes two jobs the same edit (pure): the key the cache of finished files is looked up by."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from batch.core.schema import MODEL_ID


def fingerprint(inputs: dict[str, Any], validators: dict[str, str] | None = None) -> str:
    """What makes two jobs the same edit: the model, the canonical input body and, when checked,
    what the input URLs' servers say of their files (ETag, Last-Modified, length)."""
    document: dict[str, Any] = {"model": MODEL_ID, "inputs": inputs}
    if validators:
        document["validators"] = [validators.get(url, "") for url in inputs.get("image_urls", [])]
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
