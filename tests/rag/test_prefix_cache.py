"""``PrefixCache``: which kept KV cache a new prompt reuses, and that reuse never changes a kept cache."""

from __future__ import annotations

from rag.models.generator import PrefixCache


class ListCache:
    """A stand-in KV cache: one entry per token."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens = list(tokens)


def test_the_longest_kept_prefix_is_taken_as_a_private_copy() -> None:
    cache = PrefixCache()
    cache.keep([1, 2, 3], ListCache([1, 2, 3]))
    cache.keep([1, 2, 3, 4, 5], ListCache([1, 2, 3, 4, 5]))
    n, own = cache.take([1, 2, 3, 4, 5, 9])
    assert n == 5 and own.tokens == [1, 2, 3, 4, 5]
    own.tokens.append(42)  # the caller's forward pass grows its copy ...
    n, again = cache.take([1, 2, 3, 4, 5, 6, 7])
    assert n == 5 and again.tokens == [1, 2, 3, 4, 5]  # ... never the kept one
    assert cache.take([1, 2, 3, 7])[0] == 3


def test_at_least_one_token_is_left_to_compute() -> None:
    cache = PrefixCache()
    cache.keep([1, 2, 3], ListCache([1, 2, 3]))
    assert cache.take([1, 2, 3]) == (0, None)
    cache.keep([1, 2], ListCache([1, 2]))
    n, own = cache.take([1, 2, 3])
    assert n == 2 and own.tokens == [1, 2]


def test_only_a_whole_kept_prefix_is_reused() -> None:
    cache = PrefixCache()
    cache.keep([1, 2, 3, 4], ListCache([1, 2, 3, 4]))
    assert cache.take([1, 2, 3, 9, 9]) == (0, None)  # shares three tokens, but does not start with the kept four
    assert cache.take([5, 1, 2, 3, 4]) == (0, None)
    assert cache.take([1, 2, 3, 4, 0])[0] == 4
