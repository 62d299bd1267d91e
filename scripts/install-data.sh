#!/usr/bin/env bash
# Installs Debian's dataset-fashion-mnist when it is missing and apt-get is usable (root).
# Never fails the build: without it, hessianlab falls back to MNIST-1D and says so.
set -u
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian package dataset-fashion-mnist"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
    || echo "could not install dataset-fashion-mnist; hessianlab will fall back to MNIST-1D"
else
  echo "apt-get not usable (not root); hessianlab will fall back to MNIST-1D"
fi
exit 0
