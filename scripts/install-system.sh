#!/usr/bin/env bash
# Installs the Debian packages hessianlab uses when they are missing and apt-get is usable (root):
#   dataset-fashion-mnist  the default offline dataset (else hessianlab falls back to MNIST-1D and says so)
#   chromium               headless browser for the test that renders the HTML report (else that test skips)
# Never fails the build.
set -u
want=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || want+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${want[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}") >/dev/null 2>&1 \
    || echo "could not install ${want[*]}; hessianlab falls back to MNIST-1D and the browser test skips"
else
  echo "apt-get not usable (not root): missing ${want[*]}; hessianlab falls back to MNIST-1D and the browser test skips"
fi
exit 0
