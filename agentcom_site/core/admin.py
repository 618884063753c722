"""FSM transition buttons in the admin that run through the domain services.

django-fsm-2's mixin would call the model transition and save directly; here each
button name maps to the service that also locks, audits and announces.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django_fsm.admin import FSMAdminMixin

from agentcom_site.core.auth import operator_actor
from agentcom_site.core.errors import HubError

Operation = Callable[[Any, str], Any]


def request_actor(request: HttpRequest) -> str:
    return operator_actor(request.user.get_username())


class ServiceTransitionsMixin(FSMAdminMixin):
    # transition method name -> service(obj, actor)
    transition_services: dict[str, Operation] = {}
    # Lifecycle buttons at the top; no Save row on a page where nothing is editable.
    change_form_template = "admin/agentcom/change_form.html"

    class Media:
        css = {"all": ("agentcom/admin.css",)}

    @staticmethod
    def get_fsm_block_label(fsm_field_name: str) -> str:
        return "Lifecycle"

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # The list needs the width the navigation sidebar would take (1 280 px screens).
        return super().changelist_view(
            request, {**(extra_context or {}), "is_nav_sidebar_enabled": False}
        )

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        context = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        editable = {f.name for f in self.model._meta.concrete_fields if f.editable} - set(
            self.get_readonly_fields(request, obj)
        )
        if not editable:
            context.update(
                nothing_editable=True,
                show_save=False,
                show_save_and_continue=False,
                show_save_and_add_another=False,
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def is_fsm_transition_visible(self, transition) -> bool:
        # A button without a service behind it could only fail: do not show it.
        return transition.name in self.transition_services and super().is_fsm_transition_visible(
            transition
        )

    def _apply_fsm_transition(
        self, *, obj, transition_name: str, request: HttpRequest, kwargs=None
    ) -> bool:
        service = self.transition_services.get(transition_name)
        if service is None:
            self.message_user(
                request, f"'{transition_name}' is not available here.", messages.ERROR
            )
            return False
        try:
            service(obj, request_actor(request))
        except HubError as exc:
            self.message_user(request, f"{transition_name}: {exc.detail}", messages.ERROR)
            return False
        except Exception as exc:  # a TransitionNotAllowed or a concurrent change
            self.message_user(request, f"{transition_name} failed: {exc}", messages.ERROR)
            return False
        self.message_user(request, f"{transition_name} done.", messages.SUCCESS)
        return True


# --- the admin index: internal records apart ---------------------------------------------

INTERNAL_SECTION = "Internal records (read-only)"


def group_internal_tables(app_list: list[dict], registry: dict) -> list[dict]:
    """Move the models whose admin says `internal_table = True` (bookkeeping an operator
    reads, never edits: hourly traffic, connection sessions, config values, the audit
    trail) out of their app into one section at the end of the index."""

    def internal(entry: dict) -> bool:
        return bool(getattr(registry.get(entry.get("model")), "internal_table", False))

    grouped, apart = [], []
    for app in app_list:
        apart += [m for m in app["models"] if internal(m)]
        kept = [m for m in app["models"] if not internal(m)]
        if kept:
            grouped.append({**app, "models": kept})
    if apart:
        grouped.append(
            {
                "name": INTERNAL_SECTION,
                "app_label": "internal",
                "app_url": "",
                "has_module_perms": True,
                "models": sorted(apart, key=lambda m: m["name"]),
            }
        )
    return grouped
