from dagster_project.core.settings import REPOSITORY_ROOT
from dagster_project.serve.contracts_doc import render_contracts_markdown


def test_the_contracts_page_is_generated_from_the_code():
    page = (REPOSITORY_ROOT / "docs" / "export_contracts.md").read_text()
    assert page == render_contracts_markdown(), "run: uv run crm contracts > docs/export_contracts.md"
    assert "### sales / orders (required export)" in page
    assert "| `ordered_at` | timestamp (TIMESTAMP) | yes |" in page
