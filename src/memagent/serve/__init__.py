"""`memagent serve`: an OpenAI-compatible HTTP front for the memory loop (docs/serve.md).

app.py: the routes; runner.py: the one scheduler thread that owns every request to the backend;
store.py: documents and jobs in SQLite (WAL); shapes.py: OpenAI's request, response and error
shapes. FastAPI and uvicorn are imported only here, never by `import memagent`.
"""
