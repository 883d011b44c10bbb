FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.txt
COPY . .
# Editable, so the app finds migrations/, templates/ and static/ beside the package.
RUN pip install --no-cache-dir --no-deps -e .
EXPOSE 8000
ENV KITCHEN_HOST=0.0.0.0 KITCHEN_PORT=8000
CMD ["sh", "-c", "kitchen database upgrade --no-prompt && kitchen run"]
