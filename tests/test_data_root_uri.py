"""A data root given as a URI (here ``file://``, through the same fsspec code an object store
uses): the IO manager stores every value in the store, the raw files are read from it and the
publish lands there, with no local copy kept between steps."""

import dagster as dg
import polars as pl

from pipeline.automation import NIGHTLY
from pipeline.definitions import ASSETS, CHECKS, resources
from tests.conftest import SMOKE, random_ratings


def run_graph(uri: str) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [*ASSETS, *CHECKS],
            selection=NIGHTLY,
            instance=instance,
            resources=resources(uri),
            run_config={"resources": {"settings": {"config": SMOKE}}},
            raise_on_error=False,
        )


def test_whole_graph_on_a_uri_root_twice(tmp_path):
    store = tmp_path / "store"
    (store / "raw").mkdir(parents=True)
    random_ratings(n_users=40, n_items=50, seed=4).write_csv(store / "raw" / "r.csv")
    first = run_graph(store.as_uri())
    assert first.success
    live = store / "published" / "recommendations.parquet"
    assert pl.read_parquet(live)["user_id"].n_unique() == 40
    assert pl.read_parquet(live)["run_id"].unique().item() == first.run_id
    for part in ("warehouse/ratings.parquet", "models/hybrid_model.npz", "published/report.html"):
        assert (store / part).is_file(), part
    assert not list(store.rglob(".tmp-*")), "a temporary object was left in the store"
    second = run_graph(store.as_uri())
    assert second.success
    assert sorted(p.name for p in (store / "published" / "history").iterdir()) == sorted(
        [first.run_id, second.run_id]
    )
    current = (store / "published" / "CURRENT.json").read_text()
    assert second.run_id in current
