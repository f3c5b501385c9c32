"""One ``APIRouter`` per area; ``api.app.create_app`` includes them all."""
