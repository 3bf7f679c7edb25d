"""API routes of the bugs app, mounted under /api/v1/."""

from django.urls import URLPattern, path

from atom.api import converters  # noqa: F401  (registers <id64:…>)
from bugs.api import project_views, views

urlpatterns: list[URLPattern] = [
    path("bugs/", views.BugListView.as_view(), name="bug-list"),
    path("bugs/<str:key>/", views.BugDetailView.as_view(), name="bug-detail"),
    path("bugs/<str:key>/results/", views.BugResultsView.as_view(), name="bug-results"),
    path("bugs/<str:key>/comments/", views.BugCommentsView.as_view(), name="bug-comments"),
    path("bugs/<str:key>/prove/", views.BugProveView.as_view(), name="bug-prove"),
    path("suites/", views.SuiteListView.as_view(), name="suite-list"),
    path("suites/<slug:name>/", views.SuiteDetailView.as_view(), name="suite-detail"),
    path("runs/", views.RunListView.as_view(), name="run-list"),
    path("runs/import/", views.RunImportView.as_view(), name="run-import"),
    path("runs/<id64:pk>/", views.RunDetailView.as_view(), name="run-detail"),
    path("runs/<id64:pk>/upload/", views.RunUploadView.as_view(), name="run-upload"),
    path("triage-report/", views.TriageReportView.as_view(), name="triage-report"),
    path("projects/", project_views.ProjectListView.as_view(), name="project-list"),
    path("projects/<slug:slug>/", project_views.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<slug:slug>/link-commits/", project_views.ProjectLinkCommitsView.as_view(), name="project-link-commits"),
    path("projects/<slug:slug>/webhooks/<str:provider>/", project_views.WebhookView.as_view(), name="project-webhook"),
]
