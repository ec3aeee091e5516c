"""Prohibited-words screening (广告法禁用词) for product titles and descriptions.

The built-in list holds typical absolute, superlative and medical-efficacy claims that the
PRC Advertising Law forbids in e-commerce listings; operators add their own words with
``XIAODIAN_PROHIBITED_WORDS`` (comma separated). Screening never blocks a submission: the
hits are stored on the product and highlighted for the reviewer, who decides.
"""

from __future__ import annotations

import re

from xiaodian import settings

BUILTIN_WORDS: tuple[str, ...] = (
    # superlatives and absolutes (广告法第九条)
    "最好",
    "最佳",
    "最优",
    "最低价",
    "最便宜",
    "最先进",
    "最高级",
    "第一",
    "唯一",
    "首个",
    "顶级",
    "极品",
    "国家级",
    "世界级",
    "全网第一",
    "销量第一",
    "绝对",
    "万能",
    "史无前例",
    "独一无二",
    "100%",
    "百分百",
    # authority and guarantees
    "国家领导人",
    "特供",
    "专供",
    "假一赔十",
    "永久",
    "无效退款",
    # medical claims on ordinary goods
    "治愈",
    "根治",
    "特效药",
    "药到病除",
    "包治百病",
    "祖传秘方",
    "抗癌",
    "100%有效",
)


def words() -> list[str]:
    """The built-in list plus the configured words, longest first (so 100%有效 wins over 100%)."""
    extra = [w.strip() for w in settings.current().prohibited_words.split(",")]
    unique = dict.fromkeys([*BUILTIN_WORDS, *(w for w in extra if w)])
    return sorted(unique, key=len, reverse=True)


def _pattern(word_list: list[str]) -> re.Pattern[str] | None:
    if not word_list:
        return None
    return re.compile("|".join(re.escape(w) for w in word_list), re.IGNORECASE)


def find_hits(*texts: str) -> list[str]:
    """The prohibited words found in ``texts``, each once, in order of first appearance."""
    pattern = _pattern(words())
    if pattern is None:
        return []
    canonical = {w.lower(): w for w in words()}
    found: dict[str, None] = {}
    for text in texts:
        for match in pattern.finditer(text or ""):
            found.setdefault(canonical.get(match.group(0).lower(), match.group(0)), None)
    return list(found)


def segments(text: str, hits: list[str]) -> list[tuple[str, bool]]:
    """Split ``text`` into (piece, is_hit) so a template can mark the hits (autoescaped)."""
    pattern = _pattern(sorted(hits, key=len, reverse=True))
    if pattern is None or not text:
        return [(text or "", False)]
    out: list[tuple[str, bool]] = []
    pos = 0
    for match in pattern.finditer(text):
        if match.start() > pos:
            out.append((text[pos : match.start()], False))
        out.append((match.group(0), True))
        pos = match.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out
