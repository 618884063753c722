"""django-fsm's ConcurrentTransitionMixin, its state fields found once per model.

The mixin records the state fields' values when an instance is made and after each
save, so a later save is conditional on them. It finds those fields by testing every
field of the model each time: for a task's 60 fields, ~9 % of a lifecycle's CPU.
"""

from functools import cache

from django.db.models import Model
from django_fsm import ConcurrentTransitionMixin, FSMFieldMixin


@cache
def state_fields_of(model: type[Model]) -> tuple[FSMFieldMixin, ...]:
    """The FSM fields of `model` (what its conditional saves compare)."""
    return tuple(f for f in model._meta.fields if isinstance(f, FSMFieldMixin))


class ConcurrentTransitions(ConcurrentTransitionMixin):
    """Saves are conditional on the state fields as read (django-fsm's mixin)."""

    @property
    def state_fields(self) -> tuple[FSMFieldMixin, ...]:
        return state_fields_of(type(self))
