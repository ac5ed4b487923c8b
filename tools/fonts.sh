#!/usr/bin/env bash
# Install the fonts the pipeline draws with, from Debian's packages: DejaVu and Liberation (the
# evaluation sets: tools/make_realworld.py, make_scenes.py, make_nondigits.py) and the faces the
# non-digit training draws its letters and symbols in (pipeline/negatives.py; never the evaluation's).
# Returns at once when they are there; apt otherwise. Needs root for apt-get (uses sudo otherwise).
set -euo pipefail
PACKAGES=(fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-urw-base35 fonts-cantarell fonts-comic-neue
          fonts-lato fonts-humor-sans fonts-dkg-handwriting fonts-sjfonts fonts-breip fonts-dseg)
DIRS=(/usr/share/fonts/truetype/dejavu /usr/share/fonts/truetype/liberation /usr/share/fonts/opentype/urw-base35
      /usr/share/fonts/opentype/cantarell /usr/share/fonts/opentype/comic-neue /usr/share/fonts/truetype/lato
      /usr/share/fonts/truetype/humor-sans /usr/share/fonts/truetype/fifthhorseman /usr/share/fonts/truetype/sjfonts
      /usr/share/fonts/truetype/breip /usr/share/fonts/truetype/dseg)

installed() {
  local dir
  for dir in "${DIRS[@]}"; do [ -d "$dir" ] || return 1; done
}

installed && exit 0
# shellcheck source=tools/apt_install.sh
. "$(dirname "$0")/apt_install.sh"
apt_install fonts "${PACKAGES[@]}"
installed || { echo "fonts: ${PACKAGES[*]} installed, but a font folder is still missing: ${DIRS[*]}" >&2; exit 1; }
