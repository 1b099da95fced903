"""Package layout for mashlink.

The design card puts each part of the product at the top level of the
repository (``schemas/``, ``mapping/``, ``broker/`` ...). They are installed as
subpackages of one ``mashlink`` namespace so that generic names such as
``config`` or ``broker`` never land at the top of site-packages. All metadata
lives in pyproject.toml; this file only maps directories to packages, which
pyproject cannot express for nested subpackages without listing each one.
"""

from setuptools import find_packages, setup

PARTS = {
    "schemas": "schemas",
    "mapping": "mapping",
    "broker": "broker",
    "hub": "hub",
    "connectors": "connectors",
    "ops": "ops",
    "config": "config",
    "bench": "bench",
    "matching": "matching",
}

packages = ["mashlink"]
package_dir = {"mashlink": "mashlink"}
for name, directory in PARTS.items():
    packages.append(f"mashlink.{name}")
    package_dir[f"mashlink.{name}"] = directory
    packages.extend(f"mashlink.{name}.{sub}" for sub in find_packages(directory))

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "mashlink.config": ["*.yaml", "mappings/*.yaml", "mappings/**/*.yaml", "mappings/**/*.csv", "codes/*",
                           "outcome_templates/**/*"],
        "mashlink.schemas": ["json/*.json"],
        "mashlink.hub": ["migrations/*.ini", "migrations/*.mako", "migrations/versions/*.py"],
        "mashlink.connectors": ["**/*.json", "**/*.yaml", "**/*.csv", "**/*.xml"],
        "mashlink.ops": ["static/*", "static/swagger-ui/*", "static/govuk/*", "static/govuk/**/*",
                         "web/templates/*.html", "web/templates/**/*.html"],
    },
)
