# The pinned Go tools of the lab, sourced by scripts/setup.sh (binaries in .bin/) and
# compose/images/build.sh (the same binaries in the lab's images).
TOXIPROXY_VERSION="v2.12.0"
TOXIPROXY_MODULE="github.com/Shopify/toxiproxy/v2/cmd/server"
VERSITYGW_VERSION="v1.7.0"
VERSITYGW_MODULE="github.com/versity/versitygw/cmd/versitygw"
