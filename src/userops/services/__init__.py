"""Services that span several stores (setup, demo loading); the faces call these."""
