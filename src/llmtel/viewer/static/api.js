// The viewer's HTTP API (same origin). Every call resolves to parsed JSON or throws an Error with a message.

async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" } });
  } catch (error) {
    throw new Error(`The viewer did not answer (${error.message}). Is llmtel serve still running?`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const detail = body && (body.error || (body.errors && body.errors[0] && body.errors[0].msg));
    const error = new Error(detail ? String(detail) : `HTTP ${response.status} for ${path}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

export async function listServices() {
  return (await getJson("/api/services")).data || [];
}

export async function listModels() {
  return (await getJson("/api/llmtel/models")).data || [];
}

/** Trace summaries for the list; `params` are the API's query parameters (empty values dropped). */
export async function listTraces(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const body = await getJson(`/api/llmtel/traces?${query}`);
  return { traces: body.data || [], total: body.total ?? (body.data || []).length };
}

/** The Jaeger-format trace, or null when the viewer does not have it. */
export async function getTrace(traceId) {
  try {
    const body = await getJson(`/api/traces/${encodeURIComponent(traceId)}`);
    return (body.data && body.data[0]) || null;
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

export async function getTraceLogs(traceId) {
  return (await getJson(`/api/llmtel/traces/${encodeURIComponent(traceId)}/logs`)).data || [];
}
