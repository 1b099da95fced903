"""Police connector: the POLE exchange schema, its readers and mapping, search with
match confidence, handling-code release rules (DND never leaves), and
child-coming-to-notice / PPN records as MASH referrals."""
