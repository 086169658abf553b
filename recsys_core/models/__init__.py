"""Models: every one follows the contract of :class:`recsys_core.models.base.Recommender`."""
