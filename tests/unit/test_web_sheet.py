"""The contact sheet's pure logic: styles, items, filters, groups and pages."""

from __future__ import annotations

from typing import Any

from batch.store.reviews import Decision
from batch.store.sheet import SheetJob
from batch.web.sheet import Filters, item_of, paginate, style_of, styles


def job(n: int, key: str, name: str, *, state: str = "succeeded", image: str = "a.png", decision: str | None = None,
        prompt: str = "p", **extra: Any) -> SheetJob:
    review = Decision(n, None, decision, None, "ann", 0.0) if decision else None
    return SheetJob(n, key, state, {"image_urls": [f"http://x/{image}"], "prompt": prompt}, name, None, [], review,
                    extra.get("rerun_of"))


def test_style_and_item() -> None:
    assert style_of(job(1, "sku-1-s0", "sku-1/s0.png")) == "s0"
    assert style_of(job(1, "sku-1-s0~r2", "sku-1/s0~r2.png")) == "s0"
    assert style_of(job(1, "sku-1-warm", "flat.png")) == "warm"
    assert item_of(job(1, "k", "n", image="shoe.png")) == "http://x/shoe.png"


def test_filters_groups_and_pages() -> None:
    jobs = [job(i, f"sku-{i // 2}-s{i % 2}", f"sku-{i // 2}/s{i % 2}.png", image=f"{i // 2}.png") for i in range(10)]
    jobs.append(job(10, "sku-0-s1~r2", "sku-0/s1~r2.png", image="0.png", rerun_of=1))
    jobs[3] = job(3, "sku-1-s1", "sku-1/s1.png", image="1.png", decision="rejected", state="succeeded")
    jobs[4] = job(4, "sku-2-s0", "sku-2/s0.png", image="2.png", state="failed", prompt="Blue strap")
    page = paginate(jobs, Filters(per_page=4))
    assert (page.matching, page.pages, page.shown) == (11, 3, 4)
    assert [j.key for j in page.groups[0].jobs] == ["sku-0-s0", "sku-0-s1", "sku-0-s1~r2"]  # the rerun beside
    assert [g.label for g in page.groups] == ["0.png", "1.png"]
    last = paginate(jobs, Filters(per_page=4, page=99))
    assert last.page == 3 and last.shown == 3
    assert [j.key for j in paginate(jobs, Filters(review="rejected")).groups[0].jobs] == ["sku-1-s1"]
    assert paginate(jobs, Filters(state="failed", text="blue")).matching == 1
    assert paginate(jobs, Filters(text="nothing")).groups == []
    by_style = paginate(jobs, Filters(group="style"))
    assert [g.key for g in by_style.groups] == ["s0", "s1"] and styles(jobs) == ["s0", "s1"]
    assert paginate(jobs, Filters(style="s1")).matching == 6
