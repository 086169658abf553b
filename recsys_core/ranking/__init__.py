"""Turning scores into per-user top-N lists: LensKit's chain, one implementation of each step.

- :mod:`~recsys_core.ranking.candidates`: the candidate selector (training items the user has not
  rated): ``seen_entries``, ``seen_mask``, ``mask_seen``;
- :mod:`~recsys_core.ranking.scorer`: the ``Scorer`` protocol (a block of users -> b x n_items
  scores, NaN = cannot score), met by every model's ``score_users``, and its fold-in path
  ``FoldInScorer`` (``for_users``: users given by their rating rows, item side fixed);
- :mod:`~recsys_core.ranking.blend`: per-user z-scores and their weighted mean over the
  components that score an item (``zscore_rows``, ``zscore_scored``, ``blend``, ``blend_into``);
- :mod:`~recsys_core.ranking.ranker`: the hybrid's fallback fill and cold-item slots
  (``rank_block``, ``BlockLists``, ``FALLBACK``);
- :mod:`~recsys_core.ranking.topn`: the one top-N ranker (``top_k_rows``, ``block_topn``,
  ``TopN``, block sizing);
- :mod:`~recsys_core.ranking.params`: ``BlendParams`` (the ``hybrid`` settings section);
- :mod:`~recsys_core.ranking.hybrid`: ``Hybrid`` (the chain as a model, with an ``exclude``
  hook for business rules), ``choose_settings`` (the per-night selection on validation),
  ``configured``;
- :mod:`~recsys_core.ranking.refresh`: fresh lists between nights (the day's ratings, the users
  they touch, their lists from the night's hybrid folded in, the table with only their rows
  replaced, the default list);
- :mod:`~recsys_core.ranking.tuning`: ``tune`` (fitted scorers -> kept components, weights and
  cold-start settings by a greedy search on NDCG@k), ``validation_split``.
"""
