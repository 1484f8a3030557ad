# `make demo`: the main job, shown end to end (see scripts/demo.sh).
.PHONY: demo
demo: deps lib
	@scripts/demo.sh
