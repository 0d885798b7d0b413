"""The HAProxy generator (`generator.py`) and its parts.

`config.py` the template context and what only a reload changes; `keywords.py` Ruby's screening
of HAProxy config lines; `members.py` a server line and its stable id; `servers.py` Ruby's names,
cookies, options and order; `runtime.py` a backend's add/set/drain/del over the admin socket;
`readback.py` what a running HAProxy serves; `screen.py` the nodes HAProxy refuses in context;
`installer.py` the background install. Nothing is imported here, so `synapse_py.config` can use
`keywords` without loading the generator.
"""
