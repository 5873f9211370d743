"""The contact sheet's pure logic: items, headings, styles, page bounds and groups."""

from __future__ import annotations

from batch.store.sheet import SheetJob
from batch.web.sheet import Filters, build_page, describe


def job(n: int, key: str, item: str, style: str) -> SheetJob:
    return SheetJob(n, key, "succeeded", {}, "", None, [], None, None, item, f"label-{item}", style)


def test_describe_reads_the_item_name_and_style() -> None:
    inputs = {"image_urls": ["https://cdn.example/p/shoe.png?sig=abc&x=1"]}
    assert describe("sku-1-s0", "sku-1/s0.png", inputs) == ("sku-1", "sku-1", "s0", "sku-1-s0", 2)
    assert describe("sku-1-s0~r2", "sku-1/s0~r2.png", inputs)[2:] == ("s0", "sku-1-s0", 3)
    assert describe("sku-1-warm", "flat.png", inputs)[1:3] == ("sku-1", "warm")  # {sku}-{style}
    assert describe("plain", "flat.png", inputs)[:2] == ("https://cdn.example/p/shoe.png?sig=abc&x=1", "shoe.png")


def test_pages_and_groups() -> None:
    assert Filters(per_page=4, page=99).pages(11) == (3, 3)
    assert Filters(per_page=0).per == 1 and Filters(group="nonsense").grouping == "item"
    assert Filters(per_page=4).query(2).offset == 4
    jobs = [job(1, "a-s0", "A", "s0"), job(2, "a-s1", "A", "s1"), job(3, "b-s0", "B", "s0")]
    page = build_page(jobs, Filters(), 3, 1, 1)
    assert [(g.label, len(g.jobs)) for g in page.groups] == [("label-A", 2), ("label-B", 1)]
    assert [g.key for g in build_page(jobs, Filters(group="style"), 3, 1, 1).groups] == ["s0", "s1", "s0"]
