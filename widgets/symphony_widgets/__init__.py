"""Live views of the Pit for JupyterLab, built on anywidget (ES modules beside their classes).

>>> from symphony_widgets import DagView, EventLog, PoolView
>>> DagView(workflow)        # a layered drawing that follows the workflow's runs  # doctest: +SKIP
>>> PoolView(pit)            # pools' capacity and use, models and their states    # doctest: +SKIP
>>> EventLog(pit)            # the event stream as a live, filterable table       # doctest: +SKIP
>>> ArtifactBrowser(pit)     # artifacts: a filterable table, previews, lineage   # doctest: +SKIP
>>> QuestPlayer("locked-study")  # play a Function Quest level, or watch a policy  # doctest: +SKIP

Every view reads the Pit's events through one feed per Pit (``symphony_widgets.feed``), never
taking them from ``pit.poll_events()``, and carries a static ``text/html`` snapshot so exported
notebooks show a picture.
"""

from __future__ import annotations

from symphony_widgets.artifacts import ArtifactBrowser
from symphony_widgets.dag import DagView
from symphony_widgets.events import EventLog
from symphony_widgets.feed import EventFeed, feed_for
from symphony_widgets.pools import PoolView
from symphony_widgets.progress import RunProgress
from symphony_widgets.quest import QuestPlayer

__all__ = ["ArtifactBrowser", "DagView", "EventFeed", "EventLog", "PoolView", "QuestPlayer", "RunProgress", "feed_for"]
