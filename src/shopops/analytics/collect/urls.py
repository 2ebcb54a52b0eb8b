"""First-party collection endpoints (/collect/…): plain Django views, no session or user auth, a site key."""

from django.urls import URLPattern, path

from shopops.analytics.collect import views

app_name = "collect"

urlpatterns: list[URLPattern] = [
    path("e", views.collect_event, name="event"),
    path("p.gif", views.collect_event, name="pixel"),
    path("batch", views.collect_batch, name="batch"),
]
