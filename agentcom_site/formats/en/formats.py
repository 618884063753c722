"""The hub's one way of writing a moment, in the dashboard and the admin alike.

UTC with seconds: operators compare times across pages, logs and agents.
The dashboard's `when` filter and `live.js`'s `AgentComLive.time` write the same.
"""

DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
TIME_FORMAT = "H:i:s"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
