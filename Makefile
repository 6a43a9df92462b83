# linkreport: top-level build. `make` builds the nginx module and the reporter;
# `make test` and `make demo` install what they need first (scripts/deps.sh).
SHELL := /bin/bash
NGINX_SRC ?= /usr/share/nginx/src
BUILD := $(CURDIR)/build
MODULE_SO := $(BUILD)/nginx/objs/ngx_http_linkreport_module.so
MODULE_SRCS := config $(wildcard ngx_http_linkreport_module/*.c ngx_http_linkreport_module/*.h)

.PHONY: all deps module reporter test demo bench-ua bench-edge bench-drain docker-test clean

all: module reporter

deps:
	bash scripts/deps.sh

module: $(MODULE_SO)

# The module is built against nginx-dev's copy of the exact nginx source Debian's
# /usr/sbin/nginx was built from, with Debian's own configure flags (--with-compat among
# them), so the .so loads into the packaged binary.
$(BUILD)/nginx/objs/Makefile: config
	rm -rf $(BUILD)/nginx && mkdir -p $(BUILD) && cp -r $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && source ./conf_flags && \
	  ./configure "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(CURDIR) >$(BUILD)/nginx-configure.log 2>&1 \
	  || { tail -n 30 $(BUILD)/nginx-configure.log; exit 1; }

$(MODULE_SO): $(BUILD)/nginx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules >$(BUILD)/nginx-build.log 2>&1 \
	  || { grep -B2 -A8 -E 'error|Error' $(BUILD)/nginx-build.log | head -n 60; exit 1; }

reporter:
	$(MAKE) -s -C reporter BUILD=$(BUILD) all

# the tests also need the reporter's unit-test binary and its sanitizer build
test: deps all
	$(MAKE) -s -C reporter BUILD=$(BUILD) $(BUILD)/reporter-unit asan
	bash scripts/test.sh

demo: deps all
	bash scripts/demo.sh

bench-ua: deps
	bash scripts/bench-ua.sh

bench-edge: deps all
	bash scripts/bench-edge.sh

bench-drain: deps reporter
	bash scripts/bench-drain.sh

# Deployment smoke test (not part of `make test`): builds the Docker images and runs the
# compose file on loopback; installs Docker from Debian and starts dockerd if needed.
docker-test:
	bash scripts/docker-test.sh

clean:
	rm -rf $(BUILD)
