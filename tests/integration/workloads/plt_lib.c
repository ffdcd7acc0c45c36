/* Called through the PLT by plt_spin: as small as a function gets, so a
 * good share of the loop's samples land in the PLT stub itself. */
int plt_tiny(int x)
{
	return x + 1;
}
