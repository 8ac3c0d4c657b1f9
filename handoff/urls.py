app_name = "handoff"

urlpatterns = []
