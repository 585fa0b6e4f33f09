"""Read models: what the pages and the API show, built from the catalog's tables.

Plain functions over a ``Session``, like services, but they never write: browsing and search,
the dataset, job, model and lineage pages' models, lineage graphs and the auditor's trace, data
health, quality status and run states. Services may use them (a steward's edit answers with the
dataset's view); they never use services.
"""
