# The demo policy: which agent may call which tool, OPA-Envoy style.
#
# Before this policy runs, Warden has verified the agent's token and found the agent in the
# registry (active, owned, not expired, not killed); `input.agent` holds that record and the
# token's claims. The policy answers with OPA-Envoy's result object: allowed, the status and
# body of a denial, and headers for the upstream.
package envoy.authz

import rego.v1

agent := input.agent

request := input.attributes.request.http

# A tool is the first path segment after /tools, e.g. /tools/search -> "search".
default tool := ""

tool := input.parsed_path[1] if input.parsed_path[0] == "tools"

# Tier 1 agents are read-only observers; tiers 2 and 3 may also change things.
read_only_methods := {"GET", "HEAD", "OPTIONS"}

method_allowed if request.method in read_only_methods

method_allowed if agent.tier >= 2

# A token minted with --scope is limited to those tools.
scope_allows if not agent.token.scope

scope_allows if tool in agent.token.scope

default allow := false

allow if {
	tool in agent.tools
	method_allowed
	scope_allows
}

reason := "only /tools/<name> paths are agent tools" if tool == ""
else := sprintf("agent %q is not registered for tool %q", [agent.id, tool]) if not tool in agent.tools
else := sprintf("agent %q is tier %d (read-only observer) and may not %s", [agent.id, agent.tier, request.method]) if not method_allowed
else := sprintf("the token is scoped to %v, not to tool %q", [agent.token.scope, tool]) if not scope_allows

next := "add the tool to the agent's manifest and register it again: warden agent register -f <manifest.yaml>" if {
	tool != ""
	not tool in agent.tools
} else := "mint a token whose --scope includes the tool: warden token mint" if not scope_allows
else := "ask the agent's owner whether it should act here; tier changes go through its manifest"

# `tool` and `reasons` are Warden's additions to the result: they go to the decision log.
result := {
	"allowed": true,
	"tool": tool,
	"headers": {"x-warden-agent": agent.id, "x-warden-owner": agent.owner.contact},
	# The upstream needs the verified identity, not the agent's bearer token.
	"request_headers_to_remove": ["authorization"],
} if allow

result := {
	"allowed": false,
	"tool": tool,
	"reasons": [reason],
	"http_status": 403,
	"headers": {"content-type": "application/json"},
	"body": json.marshal({
		"error": "forbidden",
		"agent": agent.id,
		"reason": reason,
		"next": next,
	}),
} if not allow
