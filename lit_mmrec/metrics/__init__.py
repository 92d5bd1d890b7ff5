"""Evaluation: ``retrieval`` ranks every item for a chunk of users (training items masked, top-K kept);
``recall_ndcg`` turns the top-K lists into Recall / NDCG / Precision / MAP @K; ``cold_start`` breaks
them down by how many training interactions an item has."""
