"""Run strategies: how a planned run becomes a record (single-turn or a conversation).

* :mod:`.base` - :class:`RunStrategy` and the :class:`RunServices` every strategy uses;
* :mod:`.single_turn` - one call of the target per run;
* :mod:`.conversation` - a conversation with a simulated user per run;
* :mod:`.simulated_user` - the :class:`SimulatedUser` protocol and the scripted user.
"""

from __future__ import annotations

from .base import RunServices, RunStrategy, StrategyFactory
from .conversation import Conversation, SimulatorError
from .simulated_user import (
    ConversationView,
    Decision,
    ScriptedUser,
    SimulatedUser,
    SimulatedUserFactory,
    UserDecision,
    make_simulated_user,
)
from .single_turn import SingleTurn

__all__ = [
    "Conversation",
    "ConversationView",
    "Decision",
    "RunServices",
    "RunStrategy",
    "ScriptedUser",
    "SimulatedUser",
    "SimulatedUserFactory",
    "SimulatorError",
    "SingleTurn",
    "StrategyFactory",
    "UserDecision",
    "make_simulated_user",
]
