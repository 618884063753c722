"""Dashboard pages under /dashboard (exact paths, no trailing slash), and static files."""

from django.urls import path

from agentcom_site.dashboard import chat_views, flow_views, repo_views, views

app_name = "dashboard"

urlpatterns = [
    path("dashboard", views.overview, name="overview"),
    path("dashboard/tasks", views.task_list, name="tasks"),
    path("dashboard/tasks/new", views.task_new, name="task_new"),
    path("dashboard/tasks/<str:task_id>", views.task_detail, name="task"),
    path("dashboard/tasks/<str:task_id>/cancel", views.task_cancel, name="task_cancel"),
    path("dashboard/tasks/<str:task_id>/retry", views.task_retry, name="task_retry"),
    path("dashboard/tasks/<str:task_id>/answer", views.task_answer, name="task_answer"),
    path("dashboard/agents", views.agent_list, name="agents"),
    path("dashboard/repos", repo_views.repo_list, name="repos"),
    path("dashboard/repos/budget", repo_views.fleet_budget, name="fleet_budget"),
    path("dashboard/repos/<str:name>/pause", repo_views.repo_pause, name="repo_pause"),
    path("dashboard/repos/<str:name>/budget", repo_views.repo_budget, name="repo_budget"),
    path("dashboard/dispatch/pause", flow_views.dispatch_pause, name="dispatch_pause"),
    path("dashboard/dispatch/resume", flow_views.dispatch_resume, name="dispatch_resume"),
    path("dashboard/drain/<path:agent_id>", flow_views.agent_drain, name="agent_drain"),
    path("dashboard/message/<path:agent_id>", chat_views.agent_message, name="agent_message"),
    path("dashboard/agents/<path:agent_id>", views.agent_detail, name="agent"),
    path("dashboard/channels", chat_views.channel_list, name="channels"),
    path("dashboard/channels/<str:name>", chat_views.channel_detail, name="channel"),
    path("dashboard/channels/<str:name>/post", chat_views.channel_post, name="channel_post"),
    path("static/<path:path>", views.static_file, name="static"),
]
