"""Children's social care: DfE CIN census XML and SSDA903 (XML or CSV set).

Readers stream native extracts into the mapping engine (``config/mappings/
cin.yaml`` and ``ssda903.yaml``), so a council adapts field choices in YAML;
``stream`` translates with flat memory and never leaves partial output;
``index`` and ``connector`` answer MASH enquiries from loaded extracts.
"""
