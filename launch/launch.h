/* SPDX-License-Identifier: MIT */
/*
 * The launcher library: one typed spec per container, the record that stores it, and
 * up / down / converge over the ipam, netd and nat libraries. Front-ends (the ctnet CLI's
 * flags, a nixos-container .conf, OCI annotations, a CNI network config) parse their input
 * once into a struct ct_spec and call ct_up(); nothing here prints.
 * This header includes the library's headers by subject (gc.h, watch.h and dnsrun.h stand
 * alone).
 */
#ifndef CTNET_LAUNCH_H
#define CTNET_LAUNCH_H

#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "../ipam/ipam.h"
#include "../nat/nat.h"
#include "../netd/netd.h"
#include "addr.h"
#include "err.h"
#include "name.h"

#include "apply.h"
#include "attach.h"
#include "dns.h"
#include "doctor.h"
#include "netns.h"
#include "record.h"
#include "spec.h"
#include "up.h"

#endif
