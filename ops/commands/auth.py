"""``mashlink auth dev-token``: a short-lived token from the embedded development issuer.

For the demo, the tests and a one-machine trial: no identity provider is
needed. Refused (exit 2) unless the configuration says ``environment:
development``; a real deployment signs people in through its OpenID Connect
provider (``security.oidc``).
"""

from __future__ import annotations

from pathlib import Path

import typer

auth_app = typer.Typer(help="Sign-in helpers: development tokens.", no_args_is_help=True)


@auth_app.command("dev-token")
def dev_token(
    role: list[str] = typer.Option(..., "--role", help="practitioner | manager | agency_liaison | ops | "
                                                       "auditor | system (repeat for several)"),
    user: str = typer.Option(..., "--user", help="Subject (user name or client id)."),
    name: str = typer.Option(None, "--name", help="Display name (default: the user)."),
    la: list[str] = typer.Option(None, "--la", help="Local authority codes the user works for "
                                                    "(default: the served LA)."),
    agency: str = typer.Option(None, "--agency", help="Agency id, for agency_liaison and system."),
    ttl: int = typer.Option(None, "--ttl", min=30, max=12 * 3600, help="Seconds (default security.dev_issuer.token_ttl_s)."),
    config: Path = typer.Option(None, "--config", help="YAML settings file (default MASHLINK_CONFIG)."),
) -> None:
    """Print a signed token: curl -H "Authorization: Bearer $(mashlink auth dev-token --role practitioner --user amy)" ..."""
    from ...config.security import Role
    from ...hub.auth.dev_issuer import DevIssuer, DevIssuerRefused
    from ..wiring import settings_or_exit

    settings = settings_or_exit(config)
    roles = []
    for value in role:
        if value not in Role._value2member_map_:
            typer.echo(f"--role: {value!r} is not a role (use one of {', '.join(r.value for r in Role)})", err=True)
            raise typer.Exit(2)
        roles.append(Role(value))
    known = {a.id for a in settings.agencies}
    if agency is not None and agency not in known:
        typer.echo(f"--agency: {agency!r} is not a configured agency (configured: {', '.join(sorted(known))})",
                   err=True)
        raise typer.Exit(2)
    if {Role.AGENCY_LIAISON, Role.SYSTEM} & set(roles) and agency is None:
        typer.echo("--agency: required for agency_liaison and system tokens", err=True)
        raise typer.Exit(2)
    try:
        issuer = DevIssuer.for_settings(settings)
    except DevIssuerRefused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    settings.ensure_state_dir()
    typer.echo(issuer.mint(user, roles, name=name or user, local_authorities=la or [settings.local_authority.code],
                           agency_id=agency, ttl_s=ttl))


def register(app: typer.Typer) -> None:
    app.add_typer(auth_app, name="auth")
