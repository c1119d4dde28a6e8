"""The app factory: settings, clients and the ``register_*`` steps that build the app."""

from __future__ import annotations

import copy
from typing import Any

import click
from flask import Flask

from .secret_key import read_secret_key
from .services import Services
from .settings import ConfigError, Settings
from .web.compiled import use_compiled_templates
from .web.context import SERVICES


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app for ``settings`` (read from the environment when omitted)."""
    try:
        return _build(settings or Settings.from_env())
    except ConfigError as exc:
        context = click.get_current_context(silent=True)
        if context is None:
            raise
        if isinstance(context.command, click.Group):
            # ``flask --app webapp --help`` or ``… restore --help``: Flask loads the
            # app only to list or find a command. Any help works without settings;
            # the command itself, once run, says what is missing.
            return _unconfigured(exc)
        # Under ``flask --app webapp run`` and the like: the message alone, no traceback.
        raise click.ClickException(str(exc)) from None


def _unconfigured(error: ConfigError) -> Flask:
    """Return an app that only lists the commands: each, once run, names what is missing."""

    def refuse(*_: Any, **__: Any) -> None:
        raise click.ClickException(str(error))

    app = Flask(__name__)
    for command in _commands():
        stand_in = copy.copy(command)  # the same name, help and options
        stand_in.callback = refuse
        app.cli.add_command(stand_in)
    return app


def _build(settings: Settings) -> Flask:
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    use_compiled_templates(app)  # in the Lambda zip: drawn, never compiled, on a cold start
    services = Services(settings, source="web")
    app.config.update(
        SECRET_KEY=settings.secret_key or read_secret_key(settings, services.clients),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.local,
        MAX_CONTENT_LENGTH=64 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        # No CORS here: an automatic OPTIONS would answer 200 on private pages.
        PROVIDE_AUTOMATIC_OPTIONS=False,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_DEFAULT_TIMEZONE=settings.display_timezone,
    )
    app.extensions[SERVICES] = services
    register_extensions(app)
    register_formatting(app, settings)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions of ``web/extensions.py`` to the app."""
    from .web.extensions import babel, csrf
    from .web.i18n import select_locale, select_timezone

    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)


def register_formatting(app: Flask, settings: Settings) -> None:
    """Install the templates' formatting filters (sizes, counts, local times, items)."""
    from .web import formatting, words

    formatting.register(app, settings.display_timezone)
    words.register(app)


def register_blueprints(app: Flask) -> None:
    """Register every blueprint."""
    from .web import account, auth, backups, exports, health, i18n, restore

    app.register_blueprint(health.bp)
    app.register_blueprint(i18n.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(restore.bp)
    app.register_blueprint(backups.bp)
    app.register_blueprint(account.reset_bp)
    app.register_blueprint(account.bp)


def register_errorhandlers(app: Flask) -> None:
    """Render HTTP errors with the site's own pages."""
    from .web.errors import register

    register(app)


def register_security(app: Flask) -> None:
    """Add the security headers and the CSRF refusal page."""
    from .web.security import register

    register(app)


def register_commands(app: Flask) -> None:
    """Add the ``flask --app webapp ...`` commands."""
    for command in _commands():
        app.cli.add_command(command)


def _commands() -> list[click.Command]:
    from .cli import create_user_command, rebuild_command, restore, run_schedule_command

    return [restore, create_user_command, run_schedule_command, rebuild_command]
