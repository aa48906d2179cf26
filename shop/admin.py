"""Admin for the bus: the outbox, and deliveries with the dead letters, their replay and dismissal."""

from django.contrib import admin, messages

from .bus.delivery import dead_letter_dismiss, dead_letter_replay
from .models import Delivery, OutboxEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """The bus tables are history: staff look and replay, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    fields = ["handler", "status", "attempts", "started_at", "finished_at"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs type the two as different lists
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["event_type", "order_id", "created_at", "sent_at", "send_count", "completed_at"]
    list_filter = ["event_type", ("completed_at", admin.EmptyFieldListFilter)]
    search_fields = ["=id", "=order_id"]
    date_hierarchy = "created_at"
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["handler", "event_type", "order_id", "status", "attempts", "started_at", "finished_at"]
    list_filter = ["status", "handler"]
    search_fields = ["=event__id", "=event__order_id", "handler"]
    list_select_related = ["event"]
    readonly_fields = ["event", "handler", "status", "attempts", "last_error", "payload", "started_at", "finished_at"]
    actions = ["replay", "dismiss"]

    @admin.display(description="event type")
    def event_type(self, obj):
        return obj.event.event_type

    @admin.display(description="order")
    def order_id(self, obj):
        return obj.event.order_id

    @admin.display(description="payload")
    def payload(self, obj):
        return obj.event.payload

    @admin.action(description="Replay the selected dead letters")
    def replay(self, request, queryset):
        replayed = sum(dead_letter_replay(delivery_id=pk) for pk in queryset.values_list("pk", flat=True))
        skipped = queryset.count() - replayed
        self.message_user(request, f"Replayed {replayed} dead letter(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} selected deliveries were not dead letters.", messages.WARNING)

    @admin.action(description="Dismiss the selected dead letters (close without replaying)")
    def dismiss(self, request, queryset):
        by = request.user.get_username()
        dismissed = sum(dead_letter_dismiss(delivery_id=pk, by=by) for pk in queryset.values_list("pk", flat=True))
        skipped = queryset.count() - dismissed
        self.message_user(request, f"Dismissed {dismissed} dead letter(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} selected deliveries were not dead letters.", messages.WARNING)

    def has_change_permission(self, request, obj=None):
        return request.user.is_staff  # the replay and dismiss actions need it; fields stay read-only
