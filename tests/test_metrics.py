from __future__ import annotations

import random

import pytest
import pytrec_eval

from pivotrec.pipeline.evaluation.metrics import evaluate, parse_metric


def random_case(seed: int):
    rng = random.Random(seed)
    items = [f"i{n}" for n in range(60)]
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        judged = rng.sample(items, rng.randint(1, 12))
        qrels[qid] = {item: rng.choice([0, 1, 1, 2, 3]) for item in judged}
        if not any(g >= 1 for g in qrels[qid].values()):
            qrels[qid][judged[0]] = 1
        run[qid] = rng.sample(items, rng.randint(0, 50))
    return qrels, run


@pytest.mark.parametrize("seed,level", [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2)])
def test_metrics_equal_trec_eval(seed, level):
    qrels, run = random_case(seed)
    qrels = {q: g for q, g in qrels.items() if any(v >= level for v in g.values())}
    # trec_eval orders by score; give strictly decreasing scores so rank order is ours.
    trec_run = {q: {item: float(len(items) - r) for r, item in enumerate(items)} for q, items in run.items()}
    measures = {"ndcg_cut_5", "ndcg_cut_10", "map_cut_20", "recall_10", "P_5", "recip_rank", "success_10"}
    reference = pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=level).evaluate(trec_run)
    ours = evaluate(run, qrels, ["ndcg@5", "ndcg@10", "map@20", "recall@10", "precision@5", "mrr@1000", "hit_rate@10"], relevance_level=level)
    pairs = {"ndcg@5": "ndcg_cut_5", "ndcg@10": "ndcg_cut_10", "map@20": "map_cut_20", "recall@10": "recall_10", "precision@5": "P_5", "mrr@1000": "recip_rank", "hit_rate@10": "success_10"}
    for q in qrels:
        for name, trec_name in pairs.items():
            # trec_eval leaves out queries it retrieved nothing for; ours scores them 0.
            expected = reference[q][trec_name] if q in reference else 0.0
            assert ours[name][q] == pytest.approx(expected, abs=1e-6), (q, name)


def test_mrr_cutoff_and_excluded_items():
    qrels = {"q": {"a": 1, "x": -1}}
    assert evaluate({"q": ["b", "c", "a"]}, qrels, ["mrr@2", "mrr@3"]) == {"mrr@2": {"q": 0.0}, "mrr@3": {"q": pytest.approx(1 / 3)}}
    # The excluded item is removed before ranking, so "a" moves up to rank 2.
    assert evaluate({"q": ["x", "b", "a"]}, qrels, ["mrr@3"])["mrr@3"]["q"] == pytest.approx(0.5)


def test_bad_metric_name_lists_valid_forms():
    with pytest.raises(ValueError, match=r"unknown metric 'ndcg10': use NAME@K with NAME one of ndcg, recall"):
        parse_metric("ndcg10")
