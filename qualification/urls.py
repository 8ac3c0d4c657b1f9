app_name = "qualification"

urlpatterns = []
