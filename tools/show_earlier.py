"""Show again a list of items shown earlier in this conversation ("go back to the previous ones")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tools.base import Tool, ToolContext, ToolError, ToolResult


class ShowEarlierArgs(BaseModel):
    """Arguments of ``show_earlier``."""

    model_config = ConfigDict(extra="forbid")

    back: int = Field(default=1, ge=1, le=20, description="How many showings back: 1 = the list shown before the "
                      "latest one, 2 = the one before that.")


class ShowEarlier(Tool):
    """Show again the items of an earlier list in this conversation (the one before the latest by default).

    For "go back to the previous ones", "show me the ones from before again". Items come from the catalog
    as they are now (an item sold out since is left out, and the reply says so).
    """

    name = "show_earlier"
    intent = "show_again"
    capability = "show again the items I showed earlier"
    examples = (
        'go back to the previous ones',
        'show me the earlier results again',
        'can I see the ones from before?',
        'the last lot was better, bring them back',
    )
    Args = ShowEarlierArgs

    def run(self, args: ShowEarlierArgs, ctx: ToolContext) -> ToolResult:
        """Return the items of the chosen earlier showing, in their order then."""
        catalog = ctx.require_catalog()
        turns = sorted({s.turn for s in ctx.shown}, reverse=True)
        if len(turns) <= args.back:
            raise ToolError("There is no earlier list to go back to: I've shown "
                            f"{'nothing' if not turns else 'only one list'} so far in this conversation.")
        turn = turns[args.back]
        ids = list(dict.fromkeys(s.id for s in sorted(ctx.shown, key=lambda s: s.position) if s.turn == turn))
        items = [catalog.get(i) for i in ids if i in catalog.items]
        gone = [i.title for i in items if not i.in_stock]
        items = [i for i in items if i.in_stock]
        if not items:
            raise ToolError("The items of that earlier list are no longer in stock; ask me for something similar.")
        note = f" (left out, sold out since: {', '.join(gone)})" if gone else ""
        is_outfit = any(set(ids) == set(o) for o in ctx.outfits)
        return ToolResult(tool=self.name, items=items, is_outfit=is_outfit,
                          message=f"Here are the items I showed before again{note}:", data={"turn": turn})
