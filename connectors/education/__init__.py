"""Education connector: DfE Common Transfer File (CTF) XML into a searchable pupil index.

Modules: ``ctf_reader`` (safe streaming reader with derived facts),
``formats`` (``mashlink translate ctf``), ``index`` (SQLite pupil index),
``ingest`` (drop folder), ``search`` (UPN and demographic search),
``connector`` (answers enquiries), ``synthetic`` (made-up CTF files).
"""
