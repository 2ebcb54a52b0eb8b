"""A product's pictures are saved by a service (issue 11 §7: no use case composed inside an admin class):
removed, added and changed pictures in one transaction, each audited."""

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from shopops.catalog import services
from shopops.catalog.models import ProductImage
from shopops.catalog.tests.factories import create_product
from shopops.core.errors import InvalidInput
from shopops.core.models import AuditEntry

pytestmark = pytest.mark.django_db

# a 1×1 transparent PNG
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def picture(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PIXEL, content_type="image/png")


def test_pictures_are_added_changed_and_removed_with_an_audit_entry_each(admin_user):
    # given a product with two pictures
    product = create_product()
    kept = ProductImage.objects.create(product=product, image=picture("a.png"), alt_text="正面", sort_order=1)
    removed = ProductImage.objects.create(product=product, image=picture("b.png"), sort_order=2)
    # when its page saves a new picture, a changed caption and a removal
    kept.alt_text = "正面（新）"
    services.save_product_images(
        actor=admin_user,
        product_id=product.pk,
        added=[ProductImage(image=picture("c.png"), alt_text="背面", sort_order=3)],
        changed=[(kept, ["alt_text"])],
        deleted=[removed],
    )
    # then the product has exactly the kept and the new picture
    assert list(ProductImage.objects.filter(product=product).values_list("alt_text", flat=True)) == [
        "正面（新）",
        "背面",
    ]
    # and each step was audited once, by the actor
    actions = sorted(
        AuditEntry.objects.filter(action__startswith="product_image.").values_list("action", "actor_id")
    )
    assert actions == [
        ("product_image.created", admin_user.pk),
        ("product_image.deleted", admin_user.pk),
        ("product_image.updated", admin_user.pk),
    ]


def test_a_picture_of_another_product_is_refused(admin_user):
    # given two products, a picture of the second
    first, second = create_product(name="甲"), create_product(name="乙")
    other = ProductImage.objects.create(product=second, image=picture("x.png"))
    other.alt_text = "改"
    # when the first product's page tries to change it, nothing is written
    with pytest.raises(InvalidInput):
        services.save_product_images(
            actor=admin_user, product_id=first.pk, added=[], changed=[(other, ["alt_text"])], deleted=[]
        )
    other.refresh_from_db()
    assert other.alt_text == ""
