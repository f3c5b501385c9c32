"""``PrefixCache``: which kept KV cache a new prompt reuses, and that reuse never changes a kept cache."""

from __future__ import annotations

from rag.models.generator import PrefixCache


class ListCache:
    """A stand-in KV cache: one entry per token, cropped like ``transformers``' ``DynamicCache``."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens = list(tokens)

    def crop(self, n: int) -> None:
        del self.tokens[n:]


def test_the_longest_shared_prefix_is_taken_as_a_private_copy() -> None:
    cache = PrefixCache(slots=2, min_tokens=3)
    cache.keep([1, 2, 3, 4, 5, 6], ListCache([1, 2, 3, 4, 5, 6, 99]))  # the kept cache is cropped to its prompt
    cache.keep([1, 2, 3, 7, 8], ListCache([1, 2, 3, 7, 8]))
    n, own = cache.take([1, 2, 3, 4, 5, 9])
    assert n == 5 and own.tokens == [1, 2, 3, 4, 5]
    own.tokens.append(42)  # the caller's forward pass grows its copy ...
    n, again = cache.take([1, 2, 3, 4, 5, 6, 7])
    assert n == 6 and again.tokens == [1, 2, 3, 4, 5, 6]  # ... never the kept one


def test_at_least_one_token_is_left_to_compute() -> None:
    cache = PrefixCache(min_tokens=2)
    cache.keep([1, 2, 3], ListCache([1, 2, 3]))
    n, own = cache.take([1, 2, 3])
    assert n == 2 and own.tokens == [1, 2]


def test_short_shared_prefixes_and_evicted_prompts_are_not_reused() -> None:
    cache = PrefixCache(slots=1, min_tokens=3)
    cache.keep([1, 2, 3, 4], ListCache([1, 2, 3, 4]))
    assert cache.take([1, 2, 9, 9]) == (0, None)
    cache.keep([5, 6, 7, 8], ListCache([5, 6, 7, 8]))  # one slot: the first prompt is gone
    assert cache.take([1, 2, 3, 4, 0]) == (0, None)
    assert cache.take([5, 6, 7, 8, 0])[0] == 4
