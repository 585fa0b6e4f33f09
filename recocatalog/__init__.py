"""The whole loop in one command: the catalog service's commands, the pipelines' and the
ranker's, composed here so that none of the three imports another."""
