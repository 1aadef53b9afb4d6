/* bulwark-agent: placeholder until the agent lands (issue 4). */
#include "config.h"
#include <stdio.h>

int
main (void)
{
  fputs ("bulwark-agent: not built yet\n", stderr);
  return 2;
}
