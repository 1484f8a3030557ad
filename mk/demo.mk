# `make demo`: the main job, shown end to end: the event trace of one server
# (scripts/demo.sh), then the shared session store across two servers
# (scripts/demo-store.sh).
.PHONY: demo
demo: deps lib
	@scripts/demo.sh
	@echo
	@scripts/demo-store.sh
