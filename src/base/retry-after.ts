// The one Retry-After tenantd sends with a 503, whoever answers it (the router:
// starting, connections full, a tenant with no worker to take the request; a
// worker: its database away), so a client or a front sees one value per outage.

/** Seconds a client should wait before it asks again. */
export const retryAfterSeconds = 5;
