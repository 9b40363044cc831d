# The demo policy: which agent may call which tool, OPA-Envoy style.
#
# Envoy asks Warden about every request; this policy answers with OPA-Envoy's result
# object: allowed, the status and body of a denial, and headers for the upstream.
package envoy.authz

import rego.v1

request := input.attributes.request.http

# Until agent tokens are wired in, the demo names the agent in a header.
agent_id := request.headers["x-agent-id"]

agent := data.agents[agent_id]

# A tool is the first path segment after /tools, e.g. /tools/search -> "search".
tool := input.parsed_path[1] if input.parsed_path[0] == "tools"

default allow := false

allow if {
	some grant in agent.grants
	grant.tool == tool
	request.method in grant.methods
}

reason := "no agent named in the x-agent-id header" if not agent_id
else := sprintf("agent %q is not registered", [agent_id]) if not agent
else := sprintf("agent %q may not %s tool %q", [agent_id, request.method, tool]) if not allow

result := {
	"allowed": allow,
	"headers": {"x-warden-agent": agent_id, "x-warden-owner": agent.owner},
	"request_headers_to_remove": ["x-agent-secret"],
} if allow

result := {
	"allowed": false,
	"http_status": 403,
	"headers": {"content-type": "application/json"},
	"body": json.marshal({
		"error": "forbidden",
		"reason": reason,
		"next": "ask the agent's owner to grant the tool in the agent registry",
	}),
} if not allow
